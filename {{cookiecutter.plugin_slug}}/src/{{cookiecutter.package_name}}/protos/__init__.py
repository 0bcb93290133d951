"""Your proto files, and the ``_pb2`` modules compiled from them at build time (not in git)."""
