"""Sample design stored in the platform: frames, drawn samples, sampled elements, stratum targets."""
