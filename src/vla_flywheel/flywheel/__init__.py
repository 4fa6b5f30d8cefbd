"""The flywheel: seed demos -> base policy -> rounds of act -> judge -> filter/weight -> train -> evaluate."""
