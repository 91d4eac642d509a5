"""Every fact on disk, in one place.

    layout.py       every file name (run folders, checkpoint folders, exported models)
    run_folder.py   RunFolder, the run folder as one object: marker, status, metrics, checkpoints, provenance
    claim.py        taking a folder for a job: the checks before a write, the lock, leftovers
    checkpoints.py  checkpoint folders swapped in whole, and the training state a resume needs
    codes.py        a prior run's code cache
    provenance.py   what a model was trained on (its run config, data set, VQ-VAE)
    hub.py          where a model comes from: a folder, a bundled name, the Hub (locate, fetch, push)
    load.py         a model by reference (load_vqvae, load_prior, load_classifier)
    export.py       a run's best checkpoint as a standalone model folder
"""
