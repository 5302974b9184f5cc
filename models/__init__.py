"""Pure models shared by both engines: no clock, no I/O, no SimPy (time comes in as arguments)."""
