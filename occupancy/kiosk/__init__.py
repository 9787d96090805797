"""Kiosks: room status for room panels and lobby screens (DESIGN.md section 8, issue #6).

* ``status``: what a screen says about a room at one moment (pure: bookings and sensor readings in);
* ``documents`` and ``queries``: each room's status precomputed into ``KioskRoomStatus`` and the one query a poll
  costs, with the fingerprints that tell when a stored document is out of date;
* ``changes`` and ``memory``: on PostgreSQL, each web process listens for change notifications (triggers) and
  answers polls for rooms and tokens it has read from memory, until it hears of a change;
* ``tokens``: kiosk credentials (issued once, stored hashed, remembered per process), ``ratelimit``;
* ``availability`` and ``params``: the free-room search and parameter parsing;
* ``api``, ``auth``, ``schemas``, ``docs``: the JSON API with its OpenAPI description; ``views``, ``forms``, ``admin``:
  the kiosk screen and token management. ``conf``: the ``KIOSK_*`` settings.
"""
