import skewless

PUBLIC = {
    "Aggregation",
    "Array",
    "BatchSource",
    "Bool",
    "Embedding",
    "Entity",
    "FeatureService",
    "FeatureStore",
    "FeatureView",
    "Field",
    "Float32",
    "Float64",
    "Int64",
    "OnDemandFeatureView",
    "Ratio",
    "RequestSource",
    "SkewlessError",
    "StreamSource",
    "String",
    "Timestamp",
    "on_demand_feature_view",
}


def test_public_names_are_pinned() -> None:
    assert set(skewless.__all__) == PUBLIC
    for name in PUBLIC:
        assert getattr(skewless, name) is not None


def test_every_error_is_a_skewless_error() -> None:
    from skewless import errors

    classes = [v for v in vars(errors).values() if isinstance(v, type) and issubclass(v, Exception)]
    assert len(classes) >= 8
    assert all(issubclass(c, skewless.SkewlessError) for c in classes)
    for c in classes:
        assert c.__name__ in errors.__doc__  # the tree in the docstring stays complete
