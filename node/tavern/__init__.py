"""The Tavern: a read-only web dashboard of a node (``cb-node tavern``, ``cb-node run --http``).

``data`` reads the node directory, ``battle`` replays seeded battles turn by turn, ``prometheus``
renders ``/metrics``, ``server`` serves them with the standard library, ``static/`` holds the page
(plain HTML, CSS and JavaScript drawing SVG and canvas; no external library, no CDN).
"""
