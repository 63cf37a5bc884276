"""The terminal app: brands, competitors, template review and the pipeline manager.

Screens talk only to :class:`pipedeck.queue.service.Service`, and only from
thread workers; the event loop renders what those workers post.
"""
