"""Heart-sound signal code: front end, networks, the murmur class prior and the contrastive
teacher / distilled student library. Knows no task."""
