"""Port: moving a twin's weights into the other framework's twin.

engine.py is the numpy engine (the transforms a model's port.py table is written in, and the
checks that every weight is covered once with the right shape); twins.py builds trained twins
and moves weights between them through that table.
"""
