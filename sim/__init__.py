"""The discrete-event simulator: SimPy for control-plane events, numpy batches for packets."""
