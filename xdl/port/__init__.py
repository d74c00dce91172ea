"""Port: moving a twin's weights into the other framework's twin.

engine.py is the numpy engine (the transforms a model's port.py table is written in, and the
checks that every weight is covered once with the right shape). It sits below the models, whose
port tables import it; xdl/twins.py, above them, builds trained twins and moves weights between
them through a model's table.
"""
