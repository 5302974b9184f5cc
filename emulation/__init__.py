"""The emulation engine: real SIP/RTP stacks in network namespaces, links impaired by the models."""
