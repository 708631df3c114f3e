"""Running experiments: which experiment a run is, its assembly from the config, the session
that opens, runs and stops it, and the resources several experiments in one process share."""
