"""`skewless demo`: a synthetic news platform (simulate, feed, text, vocab) and article ingestion (nlp)."""
