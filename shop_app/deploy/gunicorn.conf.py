"""Gunicorn's settings for the shop: `gunicorn -c shop_app/deploy/gunicorn.conf.py`.

The course chooses where Gunicorn listens (`--bind`); this file says how it
serves: how many workers, of which class, for how long, and when to recycle
them. `course stack up` runs it behind Nginx.
"""

# TODO(lesson 9): one worker serves one request at a time; the machine has more cores.
workers = 1
worker_class = "sync"
timeout = 30
