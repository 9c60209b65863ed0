"""`sollama replay`: a day of requests through sollama and the baselines, in simulated time.

``trace`` (reading and writing traces, one from the decision history),
``world`` (the simulated fleet at time t: hosts, queues, the snapshot the
decision sees), ``loop`` (the discrete-event loop), ``baselines`` (one small
function each), ``metrics`` (each metric defined once), ``table`` and
``plot`` (output). The decision is the real one: `api.route` with an
Environment whose snapshot comes from the simulation.
"""
