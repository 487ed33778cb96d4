"""The routing core (ACD): the pure engine in `engine/`, and the services that feed and persist it."""
