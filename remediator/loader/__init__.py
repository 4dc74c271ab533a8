"""Loading playbooks, inventories and variables, with every error tied to a file and line."""
