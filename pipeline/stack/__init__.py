"""The local stack manager: installs, starts, watches and stops every service on one machine."""
