"""The browser app (``cartsim viz``): a Solara page for teaching (one model per browser session)."""
