"""Local stand-in for the Meta Graph API and the Ad Library (see server.py)."""
