"""The jobs the command line runs, as functions: each returns a frozen report and never prints."""
