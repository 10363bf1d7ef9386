"""explain stage: Grad-CAM (SPEC 8), UMAP of penultimate features (SPEC 9), the study's figures (SPEC 10).

Modules: `gradcam` (batched Grad-CAM, repeat average), `gradcam_reference` (plain per-image check),
`embedding` (pooled features, UMAP, Plotly scatter), `figures` (overlays, galleries), `pipeline`
(`medseglab explain` on a finished study). See docs/EXPLAIN.md.
"""
