"""Data tables (TOML) read by cartsim: targets, lesion sites, delivery routes and
named scenario presets. Installed as the package ``sim.seeds``; every number in
these files names its source (a REFERENCE.md row, a paper, or "modelling assumption")."""
