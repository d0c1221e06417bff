"""Change marks: ``{p}:users:changed``, user id -> when the user last wrote something that
changes what they may be recommended (after its commit): a list from ratings read before then
is out of date."""

from __future__ import annotations

from movierec.cache.connection import RedisConnection

# Set the user's change mark to ARGV[2] unless it holds a later one: two writers' marks may
# arrive out of order, and the later change is the one a list must not be older than.
_MARK_CHANGED = """
local held = redis.call('HGET', KEYS[1], ARGV[1])
if held and tonumber(held) >= tonumber(ARGV[2]) then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
return 1
"""

# Drop the change marks at or before ARGV[1] (epoch seconds): a published refresh read the
# ratings after them, so no list can be older than they are.
_FORGET_CHANGES_BEFORE = """
local marks = redis.call('HGETALL', KEYS[1])
local dropped = 0
for i = 1, #marks, 2 do
    if tonumber(marks[i + 1]) <= tonumber(ARGV[1]) then
        redis.call('HDEL', KEYS[1], marks[i])
        dropped = dropped + 1
    end
end
return dropped
"""


class ChangeMarks(RedisConnection):
    """When each user last changed what they may be recommended."""

    def mark_user_changed(self, user_id: int, at: float) -> None:
        """Note that the user wrote something that changes what they may be recommended, at
        ``at`` (epoch seconds, after the write committed): a list from ratings read before
        then is out of date (``services.changes``). A later mark never goes back in time."""
        self._script(_MARK_CHANGED)(
            keys=[self.key("users", "changed")], args=[str(user_id), repr(float(at))]
        )

    def forget_changes_before(self, at: float) -> int:
        """Drop the change marks at or before ``at``: the current set's ratings were read
        after them. Returns how many were dropped."""
        return int(
            self._script(_FORGET_CHANGES_BEFORE)(keys=[self.key("users", "changed")], args=[at])
        )
