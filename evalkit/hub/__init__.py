"""The old path of :mod:`evalkit.data.hub` (the Hub layouts and Hub access), kept so that
``import evalkit.hub`` and ``from evalkit import hub`` go on working.

It is the same module object, not a copy of its names: ``evalkit.hub.READERS`` is
``evalkit.data.hub.READERS``, and patching an attribute through either name patches both.
New code imports :mod:`evalkit.data.hub`. (A folder rather than ``hub.py``, so that git
follows the old ``hub.py`` to ``data/hub.py`` and edits made to it elsewhere merge there.)"""

import sys

import evalkit.data.hub

sys.modules[__name__] = evalkit.data.hub
