"""REST API for communications: meetings (recurring, with time zones) with their occurrences,
agenda, minutes and calendar files; action items; the problem log with its discussion; shared
goals and their measurements — registered under ``/api/v1/`` by :mod:`.urls`."""
