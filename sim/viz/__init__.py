"""The browser app (``cartsim viz``): a Mesa SolaraViz page for teaching."""
