; Script-Fu helpers for the batch tests, GIMP 2.10 dialect (see body.scm).
(define sd-u16-linear PRECISION-U16-LINEAR)
(define sd-float PRECISION-FLOAT-GAMMA)
(define (sd-true? v) (and v (not (eqv? v 0))))
(define (sd-load path) (car (gimp-file-load RUN-NONINTERACTIVE path path)))
(define (sd-layers image) (vector->list (cadr (gimp-image-get-layers image))))
(define (sd-width d) (car (gimp-drawable-width d)))
(define (sd-height d) (car (gimp-drawable-height d)))
(define (sd-offsets d) (gimp-drawable-offsets d))
(define (sd-position image item) (car (gimp-image-get-item-position image item)))
(define (sd-name item) (car (gimp-item-get-name item)))
(define (sd-is-gray d) (sd-true? (car (gimp-drawable-is-gray d))))
(define (sd-has-mask layer) (not (= -1 (car (gimp-layer-get-mask layer)))))
(define (sd-save-layer layer path)
  (let* ((src (car (gimp-item-get-image layer)))
         (img (car (gimp-image-new-with-precision (sd-width layer) (sd-height layer)
                                                  (car (gimp-image-base-type src))
                                                  (car (gimp-image-get-precision src)))))
         (copy (car (gimp-layer-new-from-drawable layer img))))
    (gimp-image-insert-layer img copy 0 0)
    (gimp-layer-set-offsets copy 0 0)
    (file-png-save2 RUN-NONINTERACTIVE img copy path path 0 9 0 0 0 0 0 0 1)
    (gimp-image-delete img)))
(define (sd-save-composite image path)
  ; The projection as one canvas-sized layer (merging would crop to the
  ; layers' bounds).
  (let* ((img (car (gimp-image-new-with-precision (car (gimp-image-width image))
                                                  (car (gimp-image-height image))
                                                  (car (gimp-image-base-type image))
                                                  (car (gimp-image-get-precision image)))))
         (layer (car (gimp-layer-new-from-visible image img "composite"))))
    (gimp-image-insert-layer img layer 0 0)
    (sd-save-layer layer path)
    (gimp-image-delete img)))
(define (sd-txt2img image layer model prompt seed w h)
  (plug-in-sdcl-txt2img RUN-NONINTERACTIVE image layer model prompt "" "euler" 2 7.5 seed w h
                        FALSE "default" "auto" 1 "" "" "" "" FALSE))
; Fixed settings with tiling on (batch_tests.py makes the same image with the CLI).
(define (sd-txt2img-tiling image layer model)
  (plug-in-sdcl-txt2img RUN-NONINTERACTIVE image layer model "a red circle" "blurry" "euler" 4 7.5
                        1234 48 64 TRUE "default" "auto" 1 "" "" "" "" FALSE))
; txt2img with a schedule and a prediction override (batch_tests.py makes
; the same image with the CLI's --schedule and --prediction).
(define (sd-txt2img-sp image layer model sampler schedule prediction)
  (plug-in-sdcl-txt2img RUN-NONINTERACTIVE image layer model "a red circle" "blurry" sampler 4 7.5
                        1234 48 64 FALSE schedule prediction 1 "" "" "" "" FALSE))
; txt2img with LoRAs, a prompt syntax and embeddings (issue 20; batch_tests.py
; makes the same image with the CLI's --lora, --prompt-syntax, --embedding).
(define (sd-txt2img-lp image layer model prompt loras syntax embeddings)
  (plug-in-sdcl-txt2img RUN-NONINTERACTIVE image layer model prompt "blurry" "euler" 4 7.5
                        1234 48 64 FALSE "default" "auto" 1 "" loras syntax embeddings FALSE))
(define (sd-img2img image layer model prompt seed)
  (plug-in-sdcl-img2img RUN-NONINTERACTIVE image layer model prompt "" "euler" 2 7.5 seed 0.8
                        FALSE "default" "auto" 1 "" "" "" "" FALSE))
(define (sd-inpaint image layer model prompt seed)
  (plug-in-sdcl-inpaint RUN-NONINTERACTIVE image layer model prompt "" "euler" 2 7.5 seed
                        1.0 0.0 FALSE 0 FALSE "default" "auto" 1 "" "" "" "" FALSE))
(define (sd-img2img-steps image layer model prompt seed steps)
  (plug-in-sdcl-img2img RUN-NONINTERACTIVE image layer model prompt "" "euler" steps 7.5 seed 0.8
                        FALSE "default" "auto" 1 "" "" "" "" FALSE))
(define (sd-outpaint image layer model prompt seed l t r b)
  (plug-in-sdcl-outpaint RUN-NONINTERACTIVE image layer model prompt "" "euler" 2 7.5 seed 1.0
                         l t r b FALSE "default" "auto" 1 "" "" "" "" FALSE))
; txt2img with the turbo argument (the last one; batch_tests.py makes the
; same image with the CLI's --turbo).
(define (sd-txt2img-turbo image layer model turbo)
  (plug-in-sdcl-txt2img RUN-NONINTERACTIVE image layer model "a red circle" "" "euler" 1 0.0
                        1234 48 64 FALSE "default" "auto" 1 "" "" "a1111" "" turbo))
(define (sd-clear layer) (gimp-edit-clear layer))
(define (sd-canvas image) (list (car (gimp-image-width image)) (car (gimp-image-height image))))
(define (sd-txt2img-batch image layer model prompt seed w h count)
  (plug-in-sdcl-txt2img RUN-NONINTERACTIVE image layer model prompt "" "euler" 2 7.5 seed w h
                        FALSE "default" "auto" count "" "" "" "" FALSE))
; The new layers a procedure returned (num-layers, then the id array).
(define (sd-returned-layers r) (vector->list (cadddr r)))
(define (sd-release) (sd-true? (car (plug-in-sdcl-release-memory RUN-NONINTERACTIVE))))
(define (sd-dirty image) (sd-true? (car (gimp-image-is-dirty image))))
