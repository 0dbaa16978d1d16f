"""The activity log: who did what to a project and its tasks, and when.

Importing the package registers the recorder's listeners (activity/recorder.py)."""

from doable.activity import recorder as recorder
