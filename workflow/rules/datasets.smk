rule dataset:
    input:
        unpack(PLAN.dataset_source),
    output:
        directory(PLAN.dataset_dir),
    log:
        PLAN.dataset_log,
    priority: PLAN.dataset_priority
    conda:
        "../../envs/imgbench.yaml"
    # Images are made in parallel; the result is the same for any number of threads. The
    # content (photo, synthetic, noise) is part of the name, so each has its own directory.
    threads: min(workflow.cores, 16)
    params:
        imgbench=IMGBENCH,
        source=PLAN.dataset_source_args,
        # A folder of the user's images (dataset.path): where, and what it holds now, so
        # that a changed folder makes its datasets again.
        folder=PLAN.dataset_folder_args,
        folder_state=PLAN.dataset_folder_state,
    shell:
        "{params.imgbench} make-dataset --format {wildcards.format}"
        " --size {wildcards.width}x{wildcards.height} --count {wildcards.images}"
        " --seed {wildcards.seed} --color {wildcards.color}"
        " --content {wildcards.content} {params.source} {params.folder}"
        " --workers {threads} --output {output:q} > {log:q} 2>&1"
