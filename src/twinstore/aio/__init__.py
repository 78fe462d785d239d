"""asyncio plumbing shared by the storage layers (lowest layer: imports nothing of twinstore)."""
