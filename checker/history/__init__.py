"""The course's git history: lesson tags, safe lesson switching, a student edition."""
