"""The browser console: server-rendered pages over the domains' service functions."""
