"""The Feast layer: the repository applied in process, training sets, online lookups, and the
bulk online stores (`bulk/`) that `feature_store.yaml` plugs in by `type:`."""
