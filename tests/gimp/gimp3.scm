; Script-Fu helpers for the batch tests, GIMP 3.0 dialect (see body.scm).
; Internal procedures take positional arguments, plug-in procedures named
; ones; drawables are passed as vectors.
(define sd-u16-linear PRECISION-U16-LINEAR)
(define sd-float PRECISION-FLOAT-NON-LINEAR)
(define (sd-true? v) (and v (not (eqv? v 0))))
(define (sd-load path) (car (gimp-file-load RUN-NONINTERACTIVE path)))
(define (sd-layers image) (vector->list (car (gimp-image-get-layers image))))
(define (sd-width d) (car (gimp-drawable-get-width d)))
(define (sd-height d) (car (gimp-drawable-get-height d)))
(define (sd-offsets d) (gimp-drawable-get-offsets d))
(define (sd-position image item) (car (gimp-image-get-item-position image item)))
(define (sd-name item) (car (gimp-item-get-name item)))
(define (sd-is-gray d) (sd-true? (car (gimp-drawable-is-gray d))))
(define (sd-has-mask layer) (> (car (gimp-layer-get-mask layer)) 0))
(define (sd-save-layer layer path)
  (let* ((src (car (gimp-item-get-image layer)))
         (img (car (gimp-image-new-with-precision (sd-width layer) (sd-height layer)
                                                  (car (gimp-image-get-base-type src))
                                                  (car (gimp-image-get-precision src)))))
         (copy (car (gimp-layer-new-from-drawable layer img))))
    (gimp-image-insert-layer img copy 0 0)
    (gimp-layer-set-offsets copy 0 0)
    (gimp-file-save RUN-NONINTERACTIVE img path -1)
    (gimp-image-delete img)))
(define (sd-save-composite image path)
  ; The projection as one canvas-sized layer (merging would crop to the
  ; layers' bounds).
  (let* ((img (car (gimp-image-new-with-precision (car (gimp-image-get-width image))
                                                  (car (gimp-image-get-height image))
                                                  (car (gimp-image-get-base-type image))
                                                  (car (gimp-image-get-precision image)))))
         (layer (car (gimp-layer-new-from-visible image img "composite"))))
    (gimp-image-insert-layer img layer 0 0)
    (sd-save-layer layer path)
    (gimp-image-delete img)))
(define (sd-txt2img image layer model prompt seed w h)
  (plug-in-sdcl-txt2img #:run-mode RUN-NONINTERACTIVE #:image image #:drawables (vector layer)
                        #:model model #:prompt prompt #:negative-prompt "" #:sampler "euler"
                        #:steps 2 #:guidance 7.5 #:seed seed #:width w #:height h #:device ""))
; Fixed settings with tiling on (batch_tests.py makes the same image with the CLI).
(define (sd-txt2img-tiling image layer model)
  (plug-in-sdcl-txt2img #:run-mode RUN-NONINTERACTIVE #:image image #:drawables (vector layer)
                        #:model model #:prompt "a red circle" #:negative-prompt "blurry"
                        #:sampler "euler" #:steps 4 #:guidance 7.5 #:seed 1234 #:width 48
                        #:height 64 #:tiling TRUE #:device ""))
; txt2img with a schedule and a prediction override (batch_tests.py makes
; the same image with the CLI's --schedule and --prediction).
(define (sd-txt2img-sp image layer model sampler schedule prediction)
  (plug-in-sdcl-txt2img #:run-mode RUN-NONINTERACTIVE #:image image #:drawables (vector layer)
                        #:model model #:prompt "a red circle" #:negative-prompt "blurry"
                        #:sampler sampler #:steps 4 #:guidance 7.5 #:seed 1234 #:width 48
                        #:height 64 #:schedule schedule #:prediction prediction #:device ""))
; txt2img with LoRAs, a prompt syntax and embeddings (issue 20; batch_tests.py
; makes the same image with the CLI's --lora, --prompt-syntax, --embedding).
(define (sd-txt2img-lp image layer model prompt loras syntax embeddings)
  (plug-in-sdcl-txt2img #:run-mode RUN-NONINTERACTIVE #:image image #:drawables (vector layer)
                        #:model model #:prompt prompt #:negative-prompt "blurry"
                        #:sampler "euler" #:steps 4 #:guidance 7.5 #:seed 1234 #:width 48
                        #:height 64 #:device "" #:loras loras #:prompt-syntax syntax
                        #:embeddings embeddings))
(define (sd-img2img image layer model prompt seed)
  (plug-in-sdcl-img2img #:run-mode RUN-NONINTERACTIVE #:image image #:drawables (vector layer)
                        #:model model #:prompt prompt #:negative-prompt "" #:sampler "euler"
                        #:steps 2 #:guidance 7.5 #:seed seed #:strength 0.8 #:device ""))
(define (sd-inpaint image layer model prompt seed)
  (plug-in-sdcl-inpaint #:run-mode RUN-NONINTERACTIVE #:image image #:drawables (vector layer)
                        #:model model #:prompt prompt #:negative-prompt "" #:sampler "euler"
                        #:steps 2 #:guidance 7.5 #:seed seed #:strength 1.0 #:mask-blur 0.0
                        #:only-masked FALSE #:padding 0 #:device ""))
(define (sd-img2img-steps image layer model prompt seed steps)
  (plug-in-sdcl-img2img #:run-mode RUN-NONINTERACTIVE #:image image #:drawables (vector layer)
                        #:model model #:prompt prompt #:negative-prompt "" #:sampler "euler"
                        #:steps steps #:guidance 7.5 #:seed seed #:strength 0.8 #:device ""))
(define (sd-outpaint image layer model prompt seed l t r b)
  (plug-in-sdcl-outpaint #:run-mode RUN-NONINTERACTIVE #:image image #:drawables (vector layer)
                         #:model model #:prompt prompt #:negative-prompt "" #:sampler "euler"
                         #:steps 2 #:guidance 7.5 #:seed seed #:strength 1.0 #:grow-left l
                         #:grow-top t #:grow-right r #:grow-bottom b #:device ""))
; txt2img with the turbo argument (the last one; batch_tests.py makes the
; same image with the CLI's --turbo).
(define (sd-txt2img-turbo image layer model turbo)
  (plug-in-sdcl-txt2img #:run-mode RUN-NONINTERACTIVE #:image image #:drawables (vector layer)
                        #:model model #:prompt "a red circle" #:negative-prompt ""
                        #:sampler "euler" #:steps 1 #:guidance 0.0 #:seed 1234 #:width 48
                        #:height 64 #:device "" #:turbo turbo))
(define (sd-clear layer) (gimp-drawable-edit-clear layer))
(define (sd-canvas image)
  (list (car (gimp-image-get-width image)) (car (gimp-image-get-height image))))
(define (sd-txt2img-batch image layer model prompt seed w h count)
  (plug-in-sdcl-txt2img #:run-mode RUN-NONINTERACTIVE #:image image #:drawables (vector layer)
                        #:model model #:prompt prompt #:negative-prompt "" #:sampler "euler"
                        #:steps 2 #:guidance 7.5 #:seed seed #:width w #:height h
                        #:batch-count count #:device ""))
; The new layers a procedure returned (a vector after layer and seed).
(define (sd-returned-layers r) (vector->list (caddr r)))
(define (sd-release) (sd-true? (car (plug-in-sdcl-release-memory #:run-mode RUN-NONINTERACTIVE))))
(define (sd-dirty image) (sd-true? (car (gimp-image-is-dirty image))))
