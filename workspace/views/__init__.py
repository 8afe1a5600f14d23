"""Workspace pages, one module per area. Each module lists its routes in ``urls`` (workspace/urls.py
mounts them under /workspace/<trial-slug>/)."""
