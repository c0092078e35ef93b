"""Pure stock rules: velocity, days on hand, status, badges, ad signals, restock ETA, waves."""
