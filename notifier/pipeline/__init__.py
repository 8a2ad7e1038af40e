"""The running service, in flow order: fetch, coordinate, diff, poll, fan out, dispatch."""
