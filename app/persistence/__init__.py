"""The embedded store on disk: its data directory, snapshots of it, and JSON Lines export and
import for moving data between the embedded store and MongoDB."""
