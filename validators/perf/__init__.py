"""Speed and size: latency, device targets, op profiles, MACs, memory, adb."""
