"""Record every cache operation on every cache backend, with hits and misses.

Cache instances are per thread, so the recorder wraps the methods of the
backend classes themselves, once, and they call straight through while
nothing records.
A hit or a miss is decided with a private sentinel passed as the default, so
a cached `None` counts as a hit. On Redis the totals are cross-checked against
the server's own `INFO stats` counters.
"""

from checker.cache.recorder import CacheRecorder
from checker.cache.records import CacheError, CacheOperation, key_family
from checker.origins import call_site

__all__ = ["CacheError", "CacheOperation", "CacheRecorder", "call_site", "key_family"]
