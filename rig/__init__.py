"""rig: a hardware-in-the-loop test rig for Gen 3 Wall Connector Power Sharing."""
