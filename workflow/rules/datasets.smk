rule dataset:
    input:
        unpack(PLAN.dataset_source),
    output:
        directory(DATASET_DIR),
    log:
        "results/logs/datasets/{format}-{color}-{width}x{height}-n{images}-s{seed}.log",
    priority: PLAN.dataset_priority
    conda:
        "../../envs/imgbench.yaml"
    # Images are generated in parallel; the result is the same for any number of threads.
    threads: min(workflow.cores, 16)
    params:
        imgbench=IMGBENCH,
        source=PLAN.dataset_source_args,
    shell:
        "{params.imgbench} make-dataset --format {wildcards.format}"
        " --size {wildcards.width}x{wildcards.height} --count {wildcards.images}"
        " --seed {wildcards.seed} --color {wildcards.color} {params.source}"
        " --workers {threads} --output {output:q} > {log:q} 2>&1"
