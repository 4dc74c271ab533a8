"""The embedded emulator: moto's server in-process, seeded with a demo account that has drifted."""
