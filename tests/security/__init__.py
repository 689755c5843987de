"""The security suite: the portal attacked the way a pentester would (issue 6)."""
