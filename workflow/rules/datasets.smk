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
