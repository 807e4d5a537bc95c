"""Streaming: events pushed or read from a bus, applied to the online tiles and logged offline."""
