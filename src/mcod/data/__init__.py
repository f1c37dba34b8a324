"""The data layer: checking user inputs, reading tables and image folders, the benchmark
and demo datasets, and the scaling of table columns. Below the networks and the detector;
it imports nothing from them."""
