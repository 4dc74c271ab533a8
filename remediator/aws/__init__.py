"""AWS access: one session per account, retrying clients, the check-mode firewall, shared reads."""
