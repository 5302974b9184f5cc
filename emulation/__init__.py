"""The emulation engine: real SIP/RTP stacks in network namespaces (issue 6). Empty so far."""
